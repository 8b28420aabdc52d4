/* Links against the installed engine (pkg-config hyperspace): opens a database, creates a
 * collection, writes three points and prints the nearest one's id.  Used by test_install.py. */
#include <hyperspace.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    hs_error err;
    hs_db_opts opts;
    hs_db_opts_init(&opts);
    hs_db *db;
    if (hs_db_open(argv[1], &opts, &db, &err)) {
        fprintf(stderr, "open: %s\n", err.message);
        return 1;
    }
    hs_collection_config cfg;
    hs_collection_config_init(&cfg);
    cfg.dimension = 2;
    cfg.metric = HS_METRIC_POINCARE;
    hs_collection *c;
    if (hs_collection_create(db, "default_admin", "tree", &cfg, &err) ||
        hs_collection_open(db, "default_admin", "tree", &c, &err)) {
        fprintf(stderr, "collection: %s\n", err.message);
        return 1;
    }
    double v[3][2] = {{0.0, 0.01}, {0.6, 0.1}, {-0.6, 0.1}};
    hs_point pts[3];
    for (int i = 0; i < 3; i++)
        pts[i] = (hs_point){.id = (uint64_t)i + 1, .vector = v[i], .dim = 2};
    if (hs_upsert(c, pts, 3, HS_DURABILITY_STRICT, &err)) {
        fprintf(stderr, "upsert: %s\n", err.message);
        return 1;
    }
    hs_search_opts so;
    hs_search_opts_init(&so);
    so.k = 1;
    double q[2] = {0.55, 0.12};
    hs_hit hit[1];
    size_t n = 0;
    if (hs_search(c, q, 2, &so, hit, &n, &err) || n != 1) {
        fprintf(stderr, "search: %s\n", err.message);
        return 1;
    }
    printf("nearest %llu\n", (unsigned long long)hit[0].id);
    hs_collection_close(c);
    return hs_db_close(db, &err) ? 1 : 0;
}
