"""Reading and writing real things: videos, frames, masks, overlays, DAVIS / YouTube-VOS /
generic datasets and their submission files, the bundled sample's files. Imports only the
base modules (errors, atomic); the procedural world that draws data lives in `gsfm.synthetic`.
"""
