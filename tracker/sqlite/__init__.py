"""The book in one SQLite file: the writer (`store`), its migrations (`migrate`), the change
feed beside the file (`feed`) and the read-only views of the commands (`readers`)."""
