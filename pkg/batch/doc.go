// Package batch runs one job per image over a bounded pool of workers, so
// that one bad image never stops the others, and shows the progress: a
// live display on a terminal (overall, then the current image of each
// worker), plain lines otherwise.
//
// It has no on-disk format. The image list it reads (ReadList, for
// --from FILE|-) is text, one path per line, as find(1) prints it and
// xargs(1) reads it; ReadList bounds what it accepts. The terminal display
// uses the ECMA-48 control functions CUU (cursor up, ESC [ n A) and EL
// (erase in line, ESC [ 2 K): https://ecma-international.org/publications-and-standards/standards/ecma-48/
package batch
