"""Reading and writing videos, frames, masks and datasets; synthetic data."""
