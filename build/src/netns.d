build/src/netns.o: src/netns.c src/netns.h src/util.h
src/netns.h:
src/util.h:
