// Explains a JavaScript app's failed build: when a module's top level throws
// while the component is built (componentize-js evaluates it in a Wizer
// snapshot), componentize-js names a line of the bundle, which is gone by
// then. This maps it back through the bundle's source map to the file (and
// npm package) it came from, and says what to do.
//
//     componentize-js ... 2> errors.txt || node build-error.mjs BUNDLE.js.map < errors.txt
//
// Prints nothing when the errors name no line of the bundle.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

const [mapFile] = process.argv.slice(2);
const errors = readFileSync(0, 'utf8');
// "app.js:355:21 SyntaxError: JSON.parse: ..." (line and column from 1).
const found = /(?:^|\s)app\.js:(\d+):(\d+)\s+(.*)$/m.exec(errors);
if (found === null) process.exit(0);
const [, line, column, cause] = found;

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

// One line's segments of a source map's `mappings`: [generated column,
// source, original line, original column], each field relative to the last.
function* segments(mappings) {
  let state = [0, 0, 0, 0];
  let generatedLine = 0;
  for (const lineText of mappings.split(';')) {
    state[0] = 0;
    for (const segment of lineText.split(',')) {
      if (segment === '') continue;
      const fields = [];
      let value = 0;
      let shift = 0;
      for (const char of segment) {
        const digit = BASE64.indexOf(char);
        value += (digit & 31) << shift;
        if (digit & 32) {
          shift += 5;
        } else {
          fields.push(value & 1 ? -(value >>> 1) : value >>> 1);
          value = 0;
          shift = 0;
        }
      }
      state = state.map((field, i) => field + (fields[i] ?? 0));
      if (fields.length >= 4) yield [generatedLine, ...state];
    }
    generatedLine += 1;
  }
}

// The original place of the bundle's `line`:`column` (from 1): the last
// segment at or before it.
function originalPlace(map, line, column) {
  let best = null;
  for (const [generatedLine, generatedColumn, source, originalLine, originalColumn] of segments(map.mappings)) {
    if (generatedLine > line - 1) break;
    if (generatedLine === line - 1 && generatedColumn > column - 1) break;
    if (generatedLine === line - 1) best = { source, originalLine, originalColumn };
  }
  return best && {
    // Sources are relative to the map's folder (the build's, gone soon).
    file: resolve(dirname(mapFile), map.sources[best.source]),
    line: best.originalLine + 1,
    column: best.originalColumn + 1,
  };
}

let place = null;
try {
  place = originalPlace(JSON.parse(readFileSync(mapFile, 'utf8')), Number(line), Number(column));
} catch {
  // No map, or a malformed one: the bundle's own line is all there is.
}
const where = place === null ? `line ${line} of the bundle` : `${place.file}:${place.line}:${place.column}`;
const npmPackage = place?.file.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/)?.[1];
console.error(`
componentize: the app's code threw while the component was being built:
  ${cause}
  at ${where}${npmPackage ? ` (the npm package ${npmPackage})` : ''}

A module's top level runs when the component is built (a Wizer snapshot),
not when it runs: there it cannot reach the network, the host's clock or
its randomness, the command line or the environment. Move that work into
\`run\` (\`main((args) => ...)\`), or import ${npmPackage ? `${npmPackage}` : 'the module'} from \`run\` with
\`await import(...)\`, which evaluates its top level when the app runs.${
  /\b(process|Buffer|require|__dirname|global)\b/.test(cause)
    ? `
It names a Node.js global, which a guest lacks as a browser does (at run time
too): use the package's browser build (the bundler takes it where its
package.json has one), or give the library what it asks for.`
    : ''
}`);
