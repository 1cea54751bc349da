from ganscape.cli import program

program()
