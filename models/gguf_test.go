package models

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadRealModels(t *testing.T) {
	tests := []struct {
		name           string
		arch           string
		modelName      string
		ctx, embd      uint64
		blocks         uint64
		pooling        PoolingType
		fileType       FileType
		tensors        int
		params         uint64
		dataOffset     int64
		hasTemplate    bool
		vocab          int
		someTensor     string
		someTensorType GGMLType
	}{
		{
			name: StoriesModel, arch: "llama", modelName: "llama",
			ctx: 2048, embd: 64, blocks: 5, pooling: PoolingUnspecified, fileType: FileTypeUnknown,
			tensors: 48, params: 292800, dataOffset: 14176, vocab: 512,
			someTensor: "token_embd.weight", someTensorType: GGMLTypeF32,
		},
		{
			name: MiniLMModel, arch: "bert", modelName: "all-MiniLM-L6-v2",
			ctx: 512, embd: 384, blocks: 6, pooling: PoolingMean, fileType: 15,
			tensors: 101, params: 22565376, dataOffset: 755520, vocab: 30522,
			someTensor: "token_embd.weight", someTensorType: GGMLTypeQ8_0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ReadFile(testModel(t, tc.name))
			if err != nil {
				t.Fatal(err)
			}
			check := func(what string, got, want any) {
				t.Helper()
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %v, want %v", what, got, want)
				}
			}
			check("Version", f.Version, uint32(3))
			check("Architecture", f.Architecture(), tc.arch)
			check("Name", f.Name(), tc.modelName)
			check("ContextLength", f.ContextLength(), tc.ctx)
			check("EmbeddingLength", f.EmbeddingLength(), tc.embd)
			check("BlockCount", f.BlockCount(), tc.blocks)
			check("PoolingType", f.PoolingType(), tc.pooling)
			check("FileType", f.FileType(), tc.fileType)
			check("tensors", len(f.Tensors), tc.tensors)
			check("ParameterCount", f.ParameterCount(), tc.params)
			check("Alignment", f.Alignment, uint64(32))
			check("DataOffset", f.DataOffset, tc.dataOffset)
			check("has chat template", f.ChatTemplate() != "", tc.hasTemplate)
			tokens, ok := f.Get("tokenizer.ggml.tokens")
			if !ok {
				t.Fatal("no tokenizer.ggml.tokens")
			}
			arr := tokens.(Array)
			check("tokens type", arr.Type, TypeString)
			check("vocab", arr.Len(), tc.vocab)
			ti, ok := f.Tensor(tc.someTensor)
			if !ok {
				t.Fatalf("no tensor %s", tc.someTensor)
			}
			check("tensor type", ti.Type, tc.someTensorType)
			// The size table must account for the file exactly: the last
			// tensor's data ends at the end of the file.
			last := f.Tensors[len(f.Tensors)-1]
			n, ok := last.Size()
			check("last tensor end", uint64(f.DataOffset)+last.Offset+n, uint64(f.Size))
			check("last tensor size known", ok, true)
			s := f.Summary()
			check("Summary.Architecture", s.Architecture, tc.arch)
			check("Summary.TensorCount", s.TensorCount, tc.tensors)
			if !strings.Contains(s.String(), tc.arch) {
				t.Errorf("Summary.String() = %q", s.String())
			}
		})
	}
}

func TestReadAllValueTypes(t *testing.T) {
	kvs := allTypesKVs()
	tensors := []testTensor{
		{"a", []uint64{64, 2}, GGMLTypeF32},
		{"b", []uint64{256}, GGMLTypeQ4_K},
		{"c", []uint64{32, 3, 2}, GGMLTypeQ8_0},
		{"d", nil, GGMLTypeF16},
		{"e", []uint64{512, 1, 1, 2}, GGMLTypeIQ2_XXS},
	}
	data := buildValid(kvs, tensors)
	f, err := Read(bytes.NewReader(data), int64(len(data)), "all-types")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.KV) != len(kvs) {
		t.Fatalf("got %d keys, want %d", len(f.KV), len(kvs))
	}
	for i, want := range kvs {
		got := f.KV[i]
		if got.Key != want.Key || got.Type != want.Type || !reflect.DeepEqual(got.Value, want.Value) {
			t.Errorf("KV %d = %#v, want %#v", i, got, want)
		}
		if v, _ := f.Get(want.Key); !reflect.DeepEqual(v, want.Value) {
			t.Errorf("Get(%q) = %#v", want.Key, v)
		}
	}
	if got := f.ContextLength(); got != 4096 {
		t.Errorf("ContextLength = %d (from uint64)", got)
	}
	if got := f.EmbeddingLength(); got != 128 {
		t.Errorf("EmbeddingLength = %d (from int32)", got)
	}
	if got := f.BlockCount(); got != 3 {
		t.Errorf("BlockCount = %d (from uint16)", got)
	}
	if got := f.PoolingType(); got != PoolingCLS {
		t.Errorf("PoolingType = %v", got)
	}
	if got := f.FileType(); got != 7 || got.String() != "Q8_0" {
		t.Errorf("FileType = %v", got)
	}
	if got := f.ChatTemplate(); got != "{{ messages }}" {
		t.Errorf("ChatTemplate = %q", got)
	}
	if got, want := f.ParameterCount(), uint64(128+256+192+1+1024); got != want {
		t.Errorf("ParameterCount = %d, want %d", got, want)
	}
	if _, ok := f.GetUint("t.i8"); ok {
		t.Error("GetUint accepted a negative int8")
	}
	if v, ok := f.GetFloat("t.f32"); !ok || v != 1.5 {
		t.Errorf("GetFloat = %v %v", v, ok)
	}
	if v, ok := f.GetBool("t.bool"); !ok || !v {
		t.Errorf("GetBool = %v %v", v, ok)
	}
	if _, ok := f.Get("missing"); ok {
		t.Error("Get(missing) ok")
	}
	if _, ok := f.GetString("t.u8"); ok {
		t.Error("GetString on a uint8 ok")
	}
}

func TestReadAlignment(t *testing.T) {
	kvs := []KV{{"general.alignment", TypeUint32, uint32(64)}}
	data := buildValid(kvs, []testTensor{{"a", []uint64{3}, GGMLTypeF32}, {"b", []uint64{5}, GGMLTypeF32}})
	f, err := Read(bytes.NewReader(data), int64(len(data)), "aligned")
	if err != nil {
		t.Fatal(err)
	}
	if f.Alignment != 64 || f.DataOffset%64 != 0 || f.Tensors[1].Offset != 64 {
		t.Errorf("alignment %d, data offset %d, tensor b offset %d", f.Alignment, f.DataOffset, f.Tensors[1].Offset)
	}
}

func TestReadVersion2(t *testing.T) {
	data := buildValid([]KV{{"general.architecture", TypeString, "llama"}}, []testTensor{{"a", []uint64{4}, GGMLTypeF32}})
	data[4] = 2
	f, err := Read(bytes.NewReader(data), int64(len(data)), "v2")
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 2 {
		t.Errorf("Version = %d", f.Version)
	}
}

func TestReadNotGGUF(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content string
	}{
		{"notes.txt", "This is a plain text file, not a model.\n"},
		{"empty.gguf", ""},
		{"short.gguf", "GG"},
		{"model.safetensors", "\x08\x00\x00\x00\x00\x00\x00\x00{}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadFile(path)
			if !errors.Is(err, ErrNotGGUF) {
				t.Fatalf("err = %v, want ErrNotGGUF", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, path) || !strings.Contains(msg, "not a GGUF file") {
				t.Errorf("message %q should name the file and say it is not a GGUF file", msg)
			}
		})
	}
	if _, err := ReadFile(dir); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("directory: err = %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "absent.gguf")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("absent: err = %v", err)
	}
}

// TestReadTruncated cuts real models at points inside the magic, the
// counts, the metadata, the tensor infos and the data.
func TestReadTruncated(t *testing.T) {
	for _, name := range []string{StoriesModel, MiniLMModel} {
		path := testModel(t, name)
		data := readAll(t, path)
		f, err := ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		header := f.DataOffset
		lastTensor := f.Tensors[len(f.Tensors)-1].Name
		cuts := []struct {
			at   int64
			kind error
			want string // substring of the message
		}{
			{0, ErrNotGGUF, "too short"},
			{3, ErrNotGGUF, "too short"},
			{4, ErrTruncated, "the version"},
			{7, ErrTruncated, "the version"},
			{8, ErrTruncated, "tensor count"},
			{20, ErrTruncated, "metadata count"},
			{24, ErrCorrupt, "more than a 24-byte file"},
			{100, nil, ""},
			{header / 3, nil, ""},
			{header / 2, nil, ""},
			{header - 40, nil, ""},
			{header - 1, nil, ""},
			{header, ErrTruncated, "needs up to"},
			{header + 1, ErrTruncated, "needs up to"},
			{int64(len(data)) / 2, ErrTruncated, "needs up to"},
			{int64(len(data)) - 1, ErrTruncated, fmt.Sprintf("file is %d bytes, tensor %q needs up to %d", len(data)-1, lastTensor, len(data))},
		}
		for _, c := range cuts {
			t.Run(fmt.Sprintf("%s/%d", name, c.at), func(t *testing.T) {
				cut := data[:c.at]
				_, err := Read(bytes.NewReader(cut), c.at, "cut.gguf")
				if err == nil {
					t.Fatal("no error")
				}
				var fe *FormatError
				if !errors.As(err, &fe) {
					t.Fatalf("err = %v (%T), want a *FormatError", err, err)
				}
				if c.kind != nil && !errors.Is(err, c.kind) {
					t.Errorf("err = %v, want %v", err, c.kind)
				}
				if c.kind == nil && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
					t.Errorf("err = %v, want truncated or corrupt", err)
				}
				if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "cut.gguf: ") {
					t.Errorf("err = %q, want it to name the file and contain %q", err, c.want)
				}
			})
		}
	}

	// The same through the file system, as llama.cpp's callers would see it.
	src := readAll(t, testModel(t, StoriesModel))
	path := filepath.Join(t.TempDir(), "cut.gguf")
	if err := os.WriteFile(path, src[:len(src)-1000], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(path)
	want := fmt.Sprintf("%s: truncated: file is %d bytes, tensor \"blk.4.ffn_norm.weight\" needs up to %d", path, len(src)-1000, len(src))
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}

// TestReadFlippedHeaderBytes damages single header bytes of the real models:
// the reader must return an error or a parsed file, never panic, and
// damage to the fixed header fields must always be caught.
func TestReadFlippedHeaderBytes(t *testing.T) {
	for _, name := range []string{StoriesModel, MiniLMModel} {
		mod := readAll(t, testModel(t, name))
		f, err := Read(bytes.NewReader(mod), int64(len(mod)), name)
		if err != nil {
			t.Fatal(err)
		}
		// Every byte of the fixed header (magic, version, counts), then a
		// sample of the metadata and tensor infos; parsing the MiniLM header
		// takes a while under -race.
		step := int(f.DataOffset / 30)
		for i := 0; i < int(f.DataOffset); i++ {
			masks := []byte{0x01, 0x80, 0xFF}
			if i >= 24 {
				if i%step != 0 {
					continue
				}
				masks = masks[2:]
			}
			for _, mask := range masks {
				before := binary.LittleEndian.Uint64(mod[8:])
				mod[i] ^= mask
				_, err := Read(bytes.NewReader(mod), int64(len(mod)), "flipped")
				// Two kinds of damage leave a valid file: version 3 -> 2,
				// and a lower tensor count (the file then lists fewer
				// tensors, which llama.cpp reports when it looks them up).
				valid := i == 4 && mod[4] == 2 || binary.LittleEndian.Uint64(mod[8:]) < before
				mod[i] ^= mask
				var fe *FormatError
				if err != nil && !errors.As(err, &fe) {
					t.Errorf("byte %d ^ %#x: err %v is not a *FormatError", i, mask, err)
				}
				if i < 24 && err == nil && !valid {
					t.Errorf("byte %d ^ %#x: damage to the fixed header not detected", i, mask)
				}
				if i < 4 && !errors.Is(err, ErrNotGGUF) {
					t.Errorf("byte %d ^ %#x: err = %v, want ErrNotGGUF", i, mask, err)
				}
				if i >= 4 && i < 8 && !valid && !errors.Is(err, ErrUnsupportedVersion) {
					t.Errorf("byte %d ^ %#x: err = %v, want ErrUnsupportedVersion", i, mask, err)
				}
			}
		}
	}
}

func TestReadMalformed(t *testing.T) {
	valid := func() *builder {
		var b builder
		b.header(3, 0, 1).kv("general.architecture", TypeString, "llama")
		return &b
	}
	big := bytes.Repeat([]byte{0}, 4096) // room so that size checks are not what fires
	tests := []struct {
		name  string
		build func() []byte
		kind  error
		want  string
	}{
		{"version 0", func() []byte { var b builder; return b.header(0, 0, 0).Bytes() }, ErrUnsupportedVersion, "0;"},
		{"version 1", func() []byte { var b builder; return b.header(1, 0, 0).Bytes() }, ErrUnsupportedVersion, "obsolete"},
		{"version 4", func() []byte { var b builder; return b.header(4, 0, 0).Bytes() }, ErrUnsupportedVersion, "supports versions 2 and 3"},
		{"big endian", func() []byte { var b builder; return b.header(0x03000000, 0, 0).Bytes() }, ErrUnsupportedVersion, "big-endian"},
		{"huge tensor count", func() []byte { var b builder; return b.header(3, 1<<62, 0).Bytes() }, ErrCorrupt, "tensors"},
		{"huge kv count", func() []byte { var b builder; return b.header(3, 0, 1<<40).Bytes() }, ErrCorrupt, "metadata keys"},
		{"counts beyond file", func() []byte { var b builder; b.header(3, 1000, 100); b.Write(big); return b.Bytes() }, ErrCorrupt, "more than a"},
		{"huge key length", func() []byte {
			var b builder
			b.header(3, 0, 1).u64(1 << 50)
			b.Write(big)
			return b.Bytes()
		}, ErrCorrupt, "exceeds the limit"},
		{"key longer than file", func() []byte {
			var b builder
			b.header(3, 0, 1).u64(5000)
			b.Write(big)
			return b.Bytes()
		}, ErrTruncated, "metadata key 0"},
		{"huge string value", func() []byte {
			var b builder
			b.header(3, 0, 1).str("k").u32(uint32(TypeString)).u64(1 << 60)
			b.Write(big)
			return b.Bytes()
		}, ErrCorrupt, `metadata key "k": string length`},
		{"huge array", func() []byte {
			var b builder
			b.header(3, 0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeUint64)).u64(1 << 60)
			b.Write(big)
			return b.Bytes()
		}, ErrCorrupt, "array length"},
		{"array longer than file", func() []byte {
			var b builder
			b.header(3, 0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeString)).u64(1 << 20)
			b.Write(big)
			return b.Bytes()
		}, ErrTruncated, "array of 1048576 string values"},
		{"unknown value type", func() []byte {
			var b builder
			b.header(3, 0, 1).str("k").u32(13)
			b.Write(big)
			return b.Bytes()
		}, ErrCorrupt, "unknown value type 13"},
		{"unknown array element type", func() []byte {
			var b builder
			b.header(3, 0, 1).str("k").u32(uint32(TypeArray)).u32(99).u64(1)
			b.Write(big)
			return b.Bytes()
		}, ErrCorrupt, "unknown element type 99"},
		{"arrays nested too deep", func() []byte {
			var b builder
			b.header(3, 0, 1).str("k").u32(uint32(TypeArray))
			for range 20 {
				b.u32(uint32(TypeArray)).u64(1)
			}
			b.Write(big)
			return b.Bytes()
		}, ErrCorrupt, "nested deeper"},
		{"duplicate key", func() []byte {
			var b builder
			b.header(3, 0, 2).kv("a", TypeUint8, uint8(1)).kv("a", TypeUint8, uint8(2))
			b.Write(big)
			return b.Bytes()
		}, ErrCorrupt, `duplicate metadata key "a"`},
		{"alignment not uint32", func() []byte {
			var b builder
			b.header(3, 0, 1).kv("general.alignment", TypeUint64, uint64(32))
			b.Write(big)
			return b.Bytes()
		}, ErrCorrupt, "general.alignment is uint64"},
		{"alignment not power of two", func() []byte {
			var b builder
			b.header(3, 0, 1).kv("general.alignment", TypeUint32, uint32(48))
			b.Write(big)
			return b.Bytes()
		}, ErrCorrupt, "not a power of two"},
		{"alignment zero", func() []byte {
			var b builder
			b.header(3, 0, 1).kv("general.alignment", TypeUint32, uint32(0))
			b.Write(big)
			return b.Bytes()
		}, ErrCorrupt, "not a power of two"},
		{"tensor name too long", func() []byte {
			b := valid()
			b.Bytes()[8] = 1
			b.tensor(strings.Repeat("n", 64), []uint64{4}, GGMLTypeF32, 0)
			b.Write(big)
			return b.Bytes()
		}, ErrCorrupt, "longer than llama.cpp's limit"},
		{"too many dims", func() []byte {
			b := valid()
			b.Bytes()[8] = 1
			b.tensor("t", []uint64{1, 1, 1, 1, 1}, GGMLTypeF32, 0)
			b.Write(big)
			return b.Bytes()
		}, ErrCorrupt, "5 dimensions"},
		{"zero dim", func() []byte {
			b := valid()
			b.Bytes()[8] = 1
			b.tensor("t", []uint64{4, 0}, GGMLTypeF32, 0)
			b.Write(big)
			return b.Bytes()
		}, ErrCorrupt, "dimension 1 has invalid extent 0"},
		{"negative dim", func() []byte {
			b := valid()
			b.Bytes()[8] = 1
			b.tensor("t", []uint64{1 << 63}, GGMLTypeF32, 0)
			b.Write(big)
			return b.Bytes()
		}, ErrCorrupt, "invalid extent"},
		{"element count overflow", func() []byte {
			b := valid()
			b.Bytes()[8] = 1
			b.tensor("t", []uint64{1 << 32, 1 << 32}, GGMLTypeF32, 0)
			b.Write(big)
			return b.Bytes()
		}, ErrCorrupt, "overflows"},
		{"row not a multiple of the block", func() []byte {
			b := valid()
			b.Bytes()[8] = 1
			b.tensor("t", []uint64{100}, GGMLTypeQ4_0, 0)
			b.Write(big)
			return b.Bytes()
		}, ErrCorrupt, "not a multiple of the block size 32"},
		{"misaligned offset", func() []byte {
			b := valid()
			b.Bytes()[8] = 1
			b.tensor("t", []uint64{4}, GGMLTypeF32, 4)
			b.Write(big)
			return b.Bytes()
		}, ErrCorrupt, "not a multiple of the alignment"},
		{"duplicate tensor", func() []byte {
			b := valid()
			b.Bytes()[8] = 2
			b.tensor("t", []uint64{4}, GGMLTypeF32, 0).tensor("t", []uint64{4}, GGMLTypeF32, 32)
			b.Write(big)
			return b.Bytes()
		}, ErrCorrupt, `duplicate tensor name "t"`},
		{"tensor beyond file", func() []byte {
			b := valid()
			b.Bytes()[8] = 1
			b.tensor("t", []uint64{4096, 4096}, GGMLTypeF16, 0)
			b.Write(big)
			return b.Bytes()
		}, ErrTruncated, `tensor "t" needs up to`},
		{"tensor offset overflow", func() []byte {
			b := valid()
			b.Bytes()[8] = 1
			b.tensor("t", []uint64{4}, GGMLTypeF32, 1<<64-32)
			b.Write(big)
			return b.Bytes()
		}, ErrTruncated, "needs up to 18446744073709551615"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.build()
			_, err := Read(bytes.NewReader(data), int64(len(data)), "bad.gguf")
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want %v", err, tc.kind)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestReadUnknownTensorType: a type this package does not know (a newer
// ggml) is accepted, without the extent check it cannot do.
func TestReadUnknownTensorType(t *testing.T) {
	var b builder
	b.header(3, 2, 0).
		tensor("future", []uint64{1 << 40}, GGMLType(77), 0).
		tensor("known", []uint64{8}, GGMLTypeF32, 0)
	b.pad(32)
	b.Write(make([]byte, 32))
	f, err := Read(bytes.NewReader(b.Bytes()), int64(b.Len()), "future.gguf")
	if err != nil {
		t.Fatal(err)
	}
	if f.Tensors[0].Type.String() != "GGMLType(77)" {
		t.Errorf("type name %q", f.Tensors[0].Type)
	}
	if _, ok := f.Tensors[0].Size(); ok {
		t.Error("Size of an unknown type reported ok")
	}
}

func TestGGMLTypeSizes(t *testing.T) {
	// Bytes per 256 elements for the types in the table, from ggml's
	// block structs: one row of 256 elements of each type.
	tests := map[GGMLType]uint64{
		GGMLTypeF32: 1024, GGMLTypeF16: 512, GGMLTypeBF16: 512, GGMLTypeF64: 2048,
		GGMLTypeI8: 256, GGMLTypeI16: 512, GGMLTypeI32: 1024, GGMLTypeI64: 2048,
		GGMLTypeQ4_0: 144, GGMLTypeQ4_1: 160, GGMLTypeQ5_0: 176, GGMLTypeQ5_1: 192,
		GGMLTypeQ8_0: 272, GGMLTypeQ8_1: 288, GGMLTypeQ2_K: 84, GGMLTypeQ3_K: 110,
		GGMLTypeQ4_K: 144, GGMLTypeQ5_K: 176, GGMLTypeQ6_K: 210, GGMLTypeQ8_K: 292,
		GGMLTypeIQ2_XXS: 66, GGMLTypeIQ2_XS: 74, GGMLTypeIQ3_XXS: 98, GGMLTypeIQ1_S: 50,
		GGMLTypeIQ4_NL: 144, GGMLTypeIQ3_S: 110, GGMLTypeIQ2_S: 82, GGMLTypeIQ4_XS: 136,
		GGMLTypeIQ1_M: 56, GGMLTypeTQ1_0: 54, GGMLTypeTQ2_0: 66, GGMLTypeMXFP4: 136,
	}
	if len(tests) != len(ggmlTypes) {
		t.Errorf("table has %d types, test covers %d", len(ggmlTypes), len(tests))
	}
	for typ, want := range tests {
		got, ok := TensorInfo{Dims: []uint64{256}, Type: typ}.Size()
		if !ok || got != want {
			t.Errorf("%s: 256 elements take %d bytes (ok %v), want %d", typ, got, ok, want)
		}
	}
}

func BenchmarkReadGGUF(b *testing.B) {
	for _, name := range []string{StoriesModel, MiniLMModel} {
		data := readAll(b, testModel(b, name))
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Read(bytes.NewReader(data), int64(len(data)), name); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
