from sessionkeeper.cli import main

main()
