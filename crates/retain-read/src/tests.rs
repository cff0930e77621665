use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::{Format, RawFile, RawSource, ReadError, ReadOptions, SOURCE_FILE};

mod fuzz;

async fn source(files: &[(&str, Vec<u8>)], options: ReadOptions) -> Result<RawSource, ReadError> {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let mut raw = Vec::new();
    for (name, bytes) in files {
        let path = Path::from(*name);
        store
            .put(&path, PutPayload::from(bytes.clone()))
            .await
            .unwrap();
        raw.push(RawFile {
            url: format!("memory:///{name}"),
            path,
            size: bytes.len() as u64,
        });
    }
    RawSource::open(store, raw, options).await
}

/// Every row of every file as `col=value` strings (nulls as `∅`), provenance included.
async fn rows(src: &RawSource) -> Result<Vec<String>, ReadError> {
    let mut out = Vec::new();
    for i in 0..src.files().len() {
        let batches: Vec<RecordBatch> = src.stream(i).try_collect().await?;
        for b in batches {
            for r in 0..b.num_rows() {
                let cells: Vec<String> = b
                    .schema()
                    .fields()
                    .iter()
                    .zip(b.columns())
                    .filter(|(f, _)| f.name() != SOURCE_FILE)
                    .map(|(f, c)| {
                        let v = if c.is_null(r) {
                            "∅".to_owned()
                        } else if let Some(s) = c.as_string_opt::<i32>() {
                            s.value(r).to_owned()
                        } else {
                            arrow::util::display::array_value_to_string(c, r).unwrap()
                        };
                        format!("{}={v}", f.name())
                    })
                    .collect();
                out.push(cells.join(" "));
            }
        }
    }
    Ok(out)
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn csv() -> ReadOptions {
    ReadOptions::new(Format::Csv)
}

#[tokio::test]
async fn csv_rows_carry_their_line_and_bad_records_say_why() {
    let text =
        "\u{feff}id,name\n1,ann\n2,bob,extra\n\"3\",\"multi\nline\"\n4,caf\u{e9}\n5,\"open\n";
    let mut bytes = text.as_bytes().to_vec();
    // Replace the UTF-8 é placeholder with a Latin-1 byte.
    let at = bytes.windows(2).position(|w| w == [0xC3, 0xA9]).unwrap();
    bytes.splice(at..at + 2, [0xE9]);
    let src = source(&[("a.csv", bytes)], csv()).await.unwrap();
    let got = rows(&src).await.unwrap();
    let want = [
        "id=1 name=ann _source_row=2 _read_error=∅ _read_column=∅ _read_detail=∅",
        "id=2 name=bob _source_row=3 _read_error=wrong_column_count _read_column=∅ _read_detail=expected 2 fields, found 3",
        "id=3 name=multi\nline _source_row=4 _read_error=∅ _read_column=∅ _read_detail=∅",
        "id=4 name=caf\u{FFFD} _source_row=6 _read_error=invalid_utf8 _read_column=name _read_detail=bytes that are not UTF-8 at offset 3 of the field",
        "id=5 name=open\n _source_row=7 _read_error=unterminated_quote _read_column=∅ _read_detail=a quoted field opened on line 7 is never closed (2 fields, expected 2)",
    ];
    assert_eq!(got, want);
}

#[tokio::test]
async fn lines_are_exact_after_blank_lines_and_crlf_and_an_open_quote_at_eof_is_named() {
    let text = "id,name\r\n1,a\r\n\r\n\r\n2,b\r\n3,\"c\r\n";
    let src = source(&[("a.csv", text.as_bytes().to_vec())], csv())
        .await
        .unwrap();
    let got = rows(&src).await.unwrap();
    assert!(
        got[0].starts_with("id=1 name=a _source_row=2 _read_error=∅"),
        "{got:?}"
    );
    assert!(
        got[1].starts_with("id=2 name=b _source_row=5 _read_error=∅"),
        "{got:?}"
    );
    assert!(
        got[2].contains("_source_row=6 _read_error=unterminated_quote"),
        "{got:?}"
    );
    // No line break at the end: the quote swallowed nothing, and is still named.
    let src = source(&[("b.csv", b"id,name\n1,a\n2,\"b".to_vec())], csv())
        .await
        .unwrap();
    let got = rows(&src).await.unwrap();
    assert!(
        got[1].contains("_source_row=3 _read_error=unterminated_quote"),
        "{got:?}"
    );
    // A quote left open mid-file and closed by a stray quote lines later: one record
    // that looks whole (three fields, an even number of quotes) swallowed lines 3 and
    // 4. It is quarantined, naming the line, and the rows after it are read again.
    let text = "id,name,price\n1,\"24 monitor,9.99\n2,mouse,5\n3,27\" monitor,19.99\n4,pad,1\n";
    let src = source(&[("d.csv", text.as_bytes().to_vec())], csv())
        .await
        .unwrap();
    let got = rows(&src).await.unwrap();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].contains("_source_row=2 _read_error=unterminated_quote")
            && got[0].contains(
                "opened on line 2 runs over line breaks and has text after its closing quote"
            ),
        "{got:?}"
    );
    assert!(
        got[1].starts_with("id=4 name=pad price=1 _source_row=5 _read_error=∅"),
        "{got:?}"
    );
    // A quoted field over two lines, properly closed, is one good row.
    let src = source(
        &[("e.csv", b"id,name\n1,\"a\nb\"\n2,\"x\"\"y\"\n".to_vec())],
        csv(),
    )
    .await
    .unwrap();
    let got = rows(&src).await.unwrap();
    assert!(
        got[0].starts_with("id=1 name=a\nb _source_row=2 _read_error=∅"),
        "{got:?}"
    );
    assert!(
        got[1].starts_with("id=2 name=x\"y _source_row=4 _read_error=∅"),
        "{got:?}"
    );
    // A stray quote inside an unquoted field mid-file is text, not an error.
    let src = source(
        &[("c.csv", b"id,name\n1,5\" screen\n2,b\n".to_vec())],
        csv(),
    )
    .await
    .unwrap();
    let got = rows(&src).await.unwrap();
    assert!(
        got[0].starts_with("id=1 name=5\" screen _source_row=2 _read_error=∅"),
        "{got:?}"
    );
}

#[tokio::test]
async fn gzip_is_read_by_extension_and_a_truncated_stream_names_the_file() {
    let body = b"id,name\n1,a\n2,b\n".to_vec();
    let src = source(&[("x.csv.gz", gz(&body))], csv()).await.unwrap();
    assert_eq!(rows(&src).await.unwrap().len(), 2);
    let big: Vec<u8> = (0..20_000)
        .flat_map(|i| format!("{i},name{i}\n").into_bytes())
        .collect();
    let mut whole = b"id,name\n".to_vec();
    whole.extend(big);
    let mut cut = gz(&whole);
    cut.truncate(cut.len() / 2);
    let src = source(&[("t.csv.gz", cut)], csv()).await.unwrap();
    let err = rows(&src).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot read `memory:///t.csv.gz`: truncated gzip stream (the file ends before the compressed data does)"
    );
}

#[tokio::test]
async fn zero_bytes_and_a_missing_column_are_file_errors() {
    let err = source(&[("e.csv", vec![])], csv()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot read `memory:///e.csv`: empty file (0 bytes)"
    );
    let src = source(
        &[
            ("a.csv", b"id,name\n1,a\n".to_vec()),
            ("b.csv", b"name,ident\nb,2\n".to_vec()),
        ],
        csv(),
    )
    .await
    .unwrap();
    let err = rows(&src).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot read `memory:///b.csv`: missing column `id` (its header has: name, ident; the first file's has: id, name)"
    );
}

#[tokio::test]
async fn columns_are_matched_by_name_across_files() {
    let src = source(
        &[
            ("a.csv", b"id,name\n1,a\n".to_vec()),
            ("b.csv", b"name,id\nb,2\n".to_vec()),
        ],
        csv(),
    )
    .await
    .unwrap();
    let got = rows(&src).await.unwrap();
    assert!(got[1].starts_with("id=2 name=b _source_row=2"), "{got:?}");
}

#[tokio::test]
async fn ndjson_broken_lines_become_rows() {
    let text =
        b"{\"id\":\"1\",\"n\":5,\"ok\":true}\n\n{\"id\":\"2\",\n[1,2]\n{\"id\":\"3\",\"n\":null}\n";
    let src = source(
        &[("t.ndjson", text.to_vec())],
        ReadOptions::new(Format::Ndjson),
    )
    .await
    .unwrap();
    let got = rows(&src).await.unwrap();
    assert_eq!(
        got,
        [
            "id=1 n=5 ok=true _source_row=1 _read_error=∅ _read_column=∅ _read_detail=∅",
            "id=∅ n=∅ ok=∅ _source_row=3 _read_error=broken_json _read_column=∅ _read_detail=EOF while parsing a value at line 1 column 10",
            "id=∅ n=∅ ok=∅ _source_row=4 _read_error=broken_json _read_column=∅ _read_detail=a JSON array where an object was expected",
            "id=3 n=∅ ok=∅ _source_row=5 _read_error=∅ _read_column=∅ _read_detail=∅",
        ]
    );
}

#[tokio::test]
async fn parquet_rows_are_numbered_and_a_corrupt_footer_is_an_error() {
    use arrow::array::Int64Array;
    let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
    let batch =
        RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![7, 8]))]).unwrap();
    let mut buf = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let src = source(
        &[("p.parquet", buf.clone())],
        ReadOptions::new(Format::Parquet),
    )
    .await
    .unwrap();
    let got = rows(&src).await.unwrap();
    assert_eq!(
        got[1],
        "x=8 _source_row=2 _read_error=∅ _read_column=∅ _read_detail=∅"
    );
    let mut broken = buf;
    let n = broken.len();
    broken.truncate(n - 3);
    let err = source(&[("b.parquet", broken)], ReadOptions::new(Format::Parquet))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot read `memory:///b.parquet`: not a readable Parquet file"),
        "{err}"
    );
}
