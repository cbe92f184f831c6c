"""The CLIP advisor: knowing what CLIP cannot do, and routing those queries elsewhere."""
