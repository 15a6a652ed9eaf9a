/* Small compiler helpers shared by every layer. */
#ifndef RIKE_COMPILER_H
#define RIKE_COMPILER_H

#define WUR          __attribute__((warn_unused_result))
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
