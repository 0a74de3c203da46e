/* search.h: what Go asks of search.c besides imgb_render. */
#ifndef IMGB_SEARCH_H
#define IMGB_SEARCH_H

/* imgb_search_probes is how many encodes searches have made in this
 * process (for tests and the bench). */
int imgb_search_probes(void);

#endif /* IMGB_SEARCH_H */
