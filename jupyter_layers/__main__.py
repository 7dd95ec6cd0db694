from jupyter_layers.cli import main

main()
