from invest.cli import main

main()
