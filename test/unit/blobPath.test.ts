import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileBlobPath } from '../../shared/runtime/blobPath.js';

describe('blob trigger paths', () => {
  it('binds {name} to the rest of the path, across folders', () => {
    const p = compileBlobPath('landing/{name}');
    assert.equal(p.listPrefix, 'landing');
    assert.deepEqual(p.match('landing/scan.h5'), { name: 'scan.h5' });
    assert.deepEqual(p.match('landing/2024/scan.h5'), { name: '2024/scan.h5' });
    assert.equal(p.match('other/scan.h5'), undefined);
    assert.equal(p.match('landing'), undefined);
  });

  it('honours fixed folders and suffixes, and several bindings', () => {
    const p = compileBlobPath('raw/incoming/{scan}/{name}.h5');
    assert.equal(p.listPrefix, 'raw/incoming');
    assert.deepEqual(p.match('raw/incoming/s1/frame.h5'), { scan: 's1', name: 'frame' });
    assert.equal(p.match('raw/incoming/s1/frame.tif'), undefined);
    assert.equal(p.match('raw/archive/s1/frame.h5'), undefined);
  });

  it('treats regular-expression characters in the pattern literally', () => {
    const p = compileBlobPath('in.box/{name}');
    assert.deepEqual(p.match('in.box/a'), { name: 'a' });
    assert.equal(p.match('inXbox/a'), undefined);
  });

  it('refuses an unclosed binding', () => {
    assert.throws(() => compileBlobPath('landing/{name'), /unclosed/);
  });
});
