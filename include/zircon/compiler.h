// pagerd's zircon/compiler.h: the few macros the other zircon/ headers use.
// Zircon's own compiler.h defines many more (likely, unlikely, add_overflow,
// ...); they are left out on purpose so that these headers never clash with a
// Linux program's own macros of those names.

#ifndef ZIRCON_COMPILER_H_
#define ZIRCON_COMPILER_H_

#ifndef __BEGIN_CDECLS
#ifdef __cplusplus
#define __BEGIN_CDECLS extern "C" {
#define __END_CDECLS }
#else
#define __BEGIN_CDECLS
#define __END_CDECLS
#endif
#endif

#ifndef __EXPORT
#define __EXPORT __attribute__((__visibility__("default")))
#endif

#ifndef __CONSTEXPR
#ifdef __cplusplus
#define __CONSTEXPR constexpr
#else
#define __CONSTEXPR
#endif
#endif

#ifndef __ISCONSTANT
#define __ISCONSTANT(x) __builtin_constant_p(x)
#endif

#endif  // ZIRCON_COMPILER_H_
