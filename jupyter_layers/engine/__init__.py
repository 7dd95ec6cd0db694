"""The layers' logic, independent of the surfaces that show it (magics, JupyterLab, the command line)."""
