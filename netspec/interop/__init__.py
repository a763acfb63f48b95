"""Moving networks between netspec and its peers: ONNX models out (`onnx_export`) and in
(`onnx_read`, `onnx_import`) and PyTorch source (`pytorch_source`), each with one table keyed
by layer kind (by ONNX op type, for import)."""
