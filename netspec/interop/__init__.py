"""Moving networks between netspec and its peers: ONNX models (`onnx_export`) and
PyTorch source (`pytorch_source`), each with one table keyed by layer kind."""
