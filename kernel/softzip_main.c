// SPDX-License-Identifier: GPL-2.0
/*
 * softzip.ko links two objects: this one and softzip_stream.o. Kbuild cannot
 * name a module after one of its own objects, so the engine (softzip.c)
 * is compiled through this file.
 */
#include "softzip.c"
