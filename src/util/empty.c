/* Keeps a layer library non-empty while its directory is being filled. */
typedef int rike_empty_translation_unit;
