from local.vcc_emulator.demo import main

main()
