"""Recognition: the model contract shared by serving and training — vocabulary, staff symbols,
manifest, the crop convention, the onnxruntime recogniser with bar re-reading and metre, and
its loader."""
