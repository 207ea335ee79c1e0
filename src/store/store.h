/*
 * store.h: the identity database: the seed's `database` dictionary (name -> encoding) as an
 * SQLite file, with several embeddings per person, each with the image it came from.
 *
 * One database holds the embeddings of one model. Its `meta` table records the model key
 * (architecture, preprocessing, the SHA-256 of the weights' source file, embedding size);
 * writing or reading with another model is refused (FR_E_MODEL_MISMATCH) with a message
 * naming both, since distances between embeddings of different networks mean nothing.
 * How the faces were cut (--align) and mirror averaging (--flip) are not part of the key:
 * the same network's embeddings of one face stay close either way (docs/matching.md).
 *
 * Every change is one transaction: an enrolment of many images, a removal of several
 * people, a rename either happens whole or not at all.
 *
 *   meta(key TEXT PRIMARY KEY, value TEXT)      format, model, arch, preprocess, ...
 *   people(id, name UNIQUE, created)
 *   embeddings(id, person -> people.id ON DELETE CASCADE, vector BLOB (float32 LE),
 *              source TEXT, created)
 *   images(embedding -> embeddings.id ON DELETE CASCADE, sha256 TEXT, face INTEGER,
 *          x1, y1, x2, y2 REAL)                 since format version 2
 *
 * images holds the SHA-256 of the bytes of the file each embedding came from and the face it
 * is (its index in the detector's order, -1 where the image was the face): an image and face
 * already enrolled is not enrolled again. A version 1 database (made before images existed)
 * opens and is read as it is; its first enrolment adds the table (the same transaction), so
 * only the embeddings enrolled from then on have hashes.
 */
#ifndef FR_STORE_STORE_H
#define FR_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "facerec.h"

typedef struct fr_store fr_store;

typedef enum fr_store_mode {
    FR_STORE_READ,   /* matching: the file may be read-only */
    FR_STORE_WRITE,  /* list, remove, rename: an existing database */
    FR_STORE_CREATE  /* enrol: an existing database, or a new one where path does not exist */
} fr_store_mode;

/* Opens a database. A missing file (except with FR_STORE_CREATE), a file that is not SQLite,
 * or an SQLite file that is not a facerec database: FR_E_NOT_FOUND / FR_E_FORMAT naming the
 * path. */
fr_status fr_store_open(const char *path, fr_store_mode mode, fr_store **out);
void fr_store_close(fr_store *store);

/* The model key of a model ("dlib/faceapi/128/sha256:<hex>"), written to buffer. */
void fr_store_model_key(const fr_model_info *model, char *buffer, size_t size);
/* Fails with FR_E_MODEL_MISMATCH unless the database is empty of a model or holds model's. */
fr_status fr_store_check_model(fr_store *store, const fr_model_info *model);
/* The model key recorded (empty string for a database nobody enrolled into yet). */
const char *fr_store_model(const fr_store *store);
/* The same for people ("dlib (preprocess faceapi, weights sha256:...)"), and the recorded
 * architecture and preprocessing names ("" where nobody enrolled yet): what a command without
 * --model loads (cli/common.c fr_cli_model_of_database). */
const char *fr_store_model_text(const fr_store *store);
const char *fr_store_arch(const fr_store *store);
const char *fr_store_preprocess(const fr_store *store);
/* The weights file the model was enrolled with and its SHA-256 (meta keys weights and
 * weights_sha256, since the images table; "" where none is recorded: older databases, the
 * pixels baseline); a recorded value that is not a path and a hash: FR_E_FORMAT. */
fr_status fr_store_weights(const fr_store *store, const char **path, const char **sha256);
/* The weights file (an absolute path) and its SHA-256 that the next enrolment records, where
 * the database records none yet; NULL: none. */
fr_status fr_store_set_weights(fr_store *store, const char *path, const char *sha256);
/* The distance threshold tuned for this database (`facerec db set --threshold`), 0 when none
 * was stored; a stored value that is not a distance in (0, 4]: FR_E_FORMAT naming the file. */
fr_status fr_store_threshold(const fr_store *store, float *out);
/* Stores the threshold (a key of the meta table: old databases need no migration, and one
 * without it has none); threshold <= 0 removes it. */
fr_status fr_store_set_threshold(fr_store *store, float threshold);

typedef struct fr_enrollment {
    const char *name;    /* the person: created when new, added to otherwise */
    const char *source;  /* the image path */
    const float *vector; /* embedding_size floats */
} fr_enrollment;

/* Adds count embeddings in one transaction (recording the model on the first enrolment). */
fr_status fr_store_enroll(fr_store *store, const fr_model_info *model,
                          const fr_enrollment *items, size_t count);

/* Where an embedding came from: its image file's content and the face in it. */
typedef struct fr_image_record {
    const char *sha256; /* 64 lowercase hex digits of the file's bytes; NULL: not recorded */
    int face;           /* the face's index in the detector's order; -1: no detection */
    int has_box;
    float box[4];       /* x1, y1, x2, y2 in the image's pixels, when has_box */
} fr_image_record;

/* The same with images[i] recorded for items[i] (images may be NULL): an item whose image and
 * face are already in the database, or earlier in items, is not added, and already[i] (when
 * already is not NULL; count entries) gets the name of the person it is enrolled as (malloc'd,
 * for the caller to free), NULL for the items added. On failure nothing is added and every
 * already[i] is NULL. */
fr_status fr_store_enroll_images(fr_store *store, const fr_model_info *model,
                                 const fr_enrollment *items, const fr_image_record *images,
                                 size_t count, char **already);

/* The person an image (the SHA-256 of its file) is enrolled as, any face of it, into name
 * (size bytes; "" when it is not enrolled, or the database predates the images table). */
fr_status fr_store_find_image(fr_store *store, const char *sha256, char *name, size_t size);

/* One embedding as `facerec db list --images` shows it. */
typedef struct fr_image_row {
    int64_t id;         /* the embedding's id (what `db remove --image ID` takes) */
    char *person;
    char *source;       /* the image path given when it was enrolled */
    char sha256[65];    /* "" for an embedding enrolled before hashes were recorded */
    int face;           /* -1: no detection (or no hash recorded) */
    int has_box;
    float box[4];
    char *created;
} fr_image_row;

/* Every embedding, by person name then id; every value read is checked (FR_E_FORMAT). */
fr_status fr_store_images(fr_store *store, fr_image_row **rows, size_t *count);
void fr_store_images_free(fr_image_row *rows, size_t count);

/* Removes single embeddings, each named by its id (decimal digits) or by the image path it
 * was enrolled from, in one transaction: all, or none when any is unknown (FR_E_NOT_FOUND) or
 * a path more than one embedding came from (FR_E_INVALID: the message lists their ids). A
 * person left without embeddings is removed too; removed and people_removed (either may be
 * NULL) get the counts. */
fr_status fr_store_remove_images(fr_store *store, const char *const *refs, size_t count,
                                 size_t *removed, size_t *people_removed);

/* The format version of the file (1: before the images table; 2). */
int fr_store_version(const fr_store *store);

typedef struct fr_person {
    char *name;
    size_t embeddings;
    char *created; /* ISO 8601, UTC */
} fr_person;

/* All people, by name. */
fr_status fr_store_people(fr_store *store, fr_person **people, size_t *count);
void fr_store_people_free(fr_person *people, size_t count);

/* Removes people and their embeddings: all or (an unknown name) none. */
fr_status fr_store_remove(fr_store *store, const char *const *names, size_t count);
fr_status fr_store_rename(fr_store *store, const char *from, const char *to);

/* Everything needed to match against the database. Rows are grouped by person, people in
 * name order (what match/identity.h relies on), and every person has at least one row. */
typedef struct fr_gallery {
    size_t people;      /* names[0 .. people) */
    char **names;
    size_t count, dim;  /* vectors: count x dim */
    float *vectors;
    int32_t *person;    /* count: index into names */
    char **sources;     /* count: the image each came from */
} fr_gallery;

/* Loads every embedding (refusing another model's database; an empty one is FR_E_NOT_FOUND). */
fr_status fr_store_load(fr_store *store, const fr_model_info *model, fr_gallery *out);
void fr_gallery_free(fr_gallery *gallery);
/* The index of a name in the gallery, or -1. */
int32_t fr_gallery_find(const fr_gallery *gallery, const char *name);
/* One row per person: the mean of their embeddings, L2-normalized (so that the threshold
 * chosen for single embeddings still applies). vectors: people x dim floats. */
fr_status fr_gallery_means(const fr_gallery *gallery, float **vectors);

/* A number that changes whenever another connection (another process, say) commits a change
 * to the file: a gallery loaded earlier is stale once it differs. */
fr_status fr_store_data_version(fr_store *store, int64_t *out);

/* Names must be non-empty, at most 256 bytes, without control characters (they are printed
 * in one-line messages and written to CSV and JSON). */
fr_status fr_store_check_name(const char *name);

#endif
