"""The procedural world: scenes drawn with exact masks, since no real VOS data can be fetched.

Shapes, figures and textures (`shapes`, `figures`, `textures`), plain and hard clips and the
stage-0 static samples (`clips`, `hard`), the held-out benchmark sets and the bundled sample
clip (`benchmark`), and small datasets in the official layouts (`fixtures`). It may import the
dataset writers of `gsfm.data` and numpy/cv2/scipy/skimage, nothing else of gsfm; `gsfm.data`
never imports it.
"""
