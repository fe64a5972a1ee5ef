/* forbid/cjson.h - forced into the layers above the model: JSON is the
 * model's business, so any use of cJSON there, its header included, fails. */
#pragma GCC poison cJSON cJSON_Parse cJSON_Delete
