"""polymodal."""
