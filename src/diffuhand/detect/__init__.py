"""Stage 1 of the pipeline: find hands in an image (MediaPipe Hands, bundled models) and give each a square crop.

Contract: :class:`HandDetection` per hand, 2D keypoints in pixels of the input image, canonical joint order,
handedness as the hand really is (the image is assumed NOT mirrored unless told).
"""

from diffuhand.detect.mediapipe import BodyDetection, HandDetection, MediaPipeBody, MediaPipeHands, mediapipe_available

__all__ = ["BodyDetection", "HandDetection", "MediaPipeBody", "MediaPipeHands", "mediapipe_available"]
