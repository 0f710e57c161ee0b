from dronecoop.cli import main

main()
