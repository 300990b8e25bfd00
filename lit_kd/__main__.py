from lit_kd.cli import main

if __name__ == "__main__":
    main()
