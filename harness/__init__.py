"""tvm-trt-harness: conformance and benchmark harness for TVM's TensorRT integration."""

__version__ = "0.1.0"
