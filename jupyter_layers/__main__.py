from jupyter_layers.app import main

main()
