"""Pictures: 3D skeleton plots."""
