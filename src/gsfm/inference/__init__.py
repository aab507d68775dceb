"""Memory bank, per-frame inference engine and the public VideoPredictor."""
