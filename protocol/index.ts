// The edge/cloud contract: topics, payload schemas and codecs. Both sides import this; neither imports the other.
export * from './topics.js';
export * from './schemas.js';
export * from './codec.js';
export * from './signing.js';
export * from './estimate.js';
