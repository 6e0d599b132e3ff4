// SPDX-License-Identifier: GPL-2.0
/*
 * uacce_softzip.ko links two objects: this one and softzip_stream.o (the
 * engine softzip.ko links too). Kbuild cannot name a module after one of
 * its own objects, so uacce_softzip.c is compiled through this file.
 */
#include "uacce_softzip.c"
