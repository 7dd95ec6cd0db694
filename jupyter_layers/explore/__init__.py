"""Layer 3: the exploration agent and its workspaces; scratch cells run in ``jupyter_layers.sandbox``."""
