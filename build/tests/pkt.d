build/tests/pkt.o: tests/unit/pkt.c tests/unit/pkt.h
tests/unit/pkt.h:
