// Allure 3's quality-gate command calls Iterator.prototype.toArray (an ES2025 iterator helper that Node 22
// has and Node 20, our engine, lacks). Loaded with --import only into that CLI process.
const IteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]()));
if (typeof IteratorPrototype.toArray !== 'function') {
  Object.defineProperty(IteratorPrototype, 'toArray', {
    configurable: true,
    writable: true,
    value: function toArray() {
      return Array.from({ [Symbol.iterator]: () => this });
    },
  });
}
