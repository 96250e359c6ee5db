"""Whole-model suites: the seed's MXNet ResNet-18 and a zoo of small generated ONNX models.

:mod:`harness.models.zoo` lists the models; :mod:`harness.models.check` checks any ONNX model
(a zoo model or a user's file) for offload conformance, preservation and reference accuracy.
"""
