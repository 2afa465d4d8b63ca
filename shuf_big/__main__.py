from shuf_big.cli.command import main

main()
