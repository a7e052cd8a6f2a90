/*
 * Test-only: an absolute address inside .text. A shared object linked from this with
 * -z notext carries a text relocation, which tests/test_build_hardening.py's unhardened
 * build needs so that its "no text relocations" check is seen to fail.
 */
int cu_textrel_target;

__asm__(".pushsection .text\n"
        ".balign 8\n"
        ".quad cu_textrel_target\n"
        ".popsection\n");
