"""Reading and writing files: joints, atomic outputs."""
