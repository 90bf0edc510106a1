"""diffuhand: 3D hand pose from images and video with a kinematically constrained hand model."""

__version__ = "0.1.0"
