"""The GSFM network: backbones, spectral modules, memory readout, decoder, weight loading."""
