from kerastune.cli import main

main()
