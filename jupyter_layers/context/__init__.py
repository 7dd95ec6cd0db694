"""What a layer may put into a prompt: the Situation, the notebook's and the kernel's cells, relevance, sections."""
