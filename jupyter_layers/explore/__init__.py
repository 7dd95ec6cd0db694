"""Layer 3: the exploration agent, and the sandbox its scratch cells run in (``jupyter_layers.explore.sandbox``)."""
