/* Tiny assertion helpers shared by the C tests. */
#ifndef FANLOG_TEST_CHECK_H
#define FANLOG_TEST_CHECK_H
#include <stdio.h>
#include <stdlib.h>
#include "fanlog.h"

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                               \
        }                                                                          \
    } while (0)

#define EXPECT(call, want)                                                          \
    do {                                                                            \
        fanlog_status got_ = (call);                                                \
        if (got_ != (want)) {                                                       \
            fprintf(stderr, "%s:%d: %s returned %u (%s), want %u (%s)\n", __FILE__, \
                    __LINE__, #call, (unsigned)got_, fanlog_status_str(got_),       \
                    (unsigned)(want), fanlog_status_str(want));                     \
            exit(1);                                                                \
        }                                                                           \
    } while (0)

#define OK(call) EXPECT(call, FANLOG_OK)

#endif
