"""The engines that run CLIP's two towers, below :mod:`polymodal.vision.encoder`.

``torch`` runs PyTorch eager on any device; ``onnx`` exports the towers once, checks them
against PyTorch and runs them with ONNX Runtime on the CPU. The encoder picks one; the backends
never import the encoder, so the dependency runs one way.
"""
